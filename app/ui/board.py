"""The Board page: the workspace's pinned answers, each with its headline, table and when it was computed;
Refresh re-runs the saved SQL on today's tables (not the model) and shows what changed."""

from __future__ import annotations

import streamlit as st

from app.access.roles import WRITE
from app.container import Services
from app.errors import AssistantError
from app.pins.refresh import refresh_pin
from app.pins.store import Pin, PinStore
from app.ui.common import safe_markdown, show_error


def board_store(services: Services) -> PinStore:
    """This workspace's board (its data folder)."""
    return PinStore(services.settings.data_dir / "board.sqlite")


def board_page(services: Services) -> None:
    """Every pin; Refresh (one or all) and Unpin for those who may write."""
    st.title("Board")
    store = board_store(services)
    pins = store.list()
    if not pins:
        st.info("No pinned answers yet. On the Chat page, open **Rename, export or delete** and pin an answer "
                "that has an SQL result; it shows here and can be refreshed on today's tables.")
        return
    writer = services.actor is None or services.actor.may(WRITE)
    if writer and st.button("Refresh all", icon=":material/refresh:", key="board.refresh_all"):
        _refresh(services, store, pins)
        pins = store.list()
    for pin in pins:
        _pin_card(services, store, pin, writer)


def _refresh(services: Services, store: PinStore, pins: list[Pin]) -> None:
    services.require(WRITE, "board refresh")  # the buttons are drawn for writers only; the service refuses too
    for pin in pins:
        try:
            result = refresh_pin(store, services.tables, services.records, pin, services.settings.user)
        except AssistantError as exc:
            show_error(exc)
            return
        if result.pin.stale:
            st.warning(safe_markdown(result.summary))
        else:
            st.toast(result.summary)


def _pin_card(services: Services, store: PinStore, pin: Pin, writer: bool) -> None:
    with st.container(border=True):
        st.markdown(f"**{safe_markdown(pin.question or 'Pinned result')}**")
        delta = f"was {pin.previous}" if pin.previous else None
        st.metric("Headline", pin.headline, delta=delta, delta_color="off")
        st.caption(f"Computed {pin.computed_at} · {pin.row_count} row(s) · pinned by {pin.created_by or '-'}")
        if pin.stale:
            st.warning("Stale: the last refresh failed, so these are the older values. "
                       + safe_markdown(pin.stale))
        if pin.columns:
            st.dataframe([dict(zip(pin.columns, row, strict=False)) for row in pin.rows], hide_index=True)
        st.code(pin.sql, language="sql")
        if not writer:
            return
        left, right = st.columns(2)
        if left.button("Refresh", icon=":material/refresh:", key=f"board.refresh.{pin.id}"):
            _refresh(services, store, [pin])
            st.rerun()
        if right.button("Unpin", icon=":material/delete:", key=f"board.unpin.{pin.id}"):
            services.require(WRITE, "board unpin")
            store.delete(pin.id)
            st.rerun()
