"""`proxy` mode behind a real nginx (Debian's package, started here; skipped when absent): the user nginx names
in X-Forwarded-User is signed in; the same header sent straight to the app, from an address that is not the
proxy, is refused and recorded."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from storage.records import SqliteRecordStore
from tests.fixtures.browser import CHAT_PLACEHOLDER

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")
PROXY_SOURCE = "127.0.0.3"  # nginx connects to the app from this loopback address: the one trusted


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _nginx_conf(tmp: Path, port: int, app_port: int) -> Path:
    temp = "\n".join(f"  {name}_temp_path {tmp / name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                       "scgi"))
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
daemon off;
pid {tmp / "nginx.pid"};
error_log {tmp / "error.log"};
events {{ worker_connections 64; }}
http {{
  access_log off;
{temp}
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://127.0.0.1:{app_port};
      proxy_bind {PROXY_SOURCE};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-User "alice";
      proxy_read_timeout 1h;
    }}
  }}
}}
""")
    return conf


@pytest.fixture()
def nginx_in_front(tmp_path):
    """Start nginx on a free port in front of the app port given; yields the proxy's URL maker."""
    procs: list[subprocess.Popen] = []

    def start(app_url: str) -> str:
        port = _free_port()
        conf = _nginx_conf(tmp_path, port, int(app_url.rsplit(":", 1)[1]))
        proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT)
        procs.append(proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return f"http://127.0.0.1:{port}"
            time.sleep(0.1)
        pytest.fail("nginx did not start: " + (tmp_path / "error.log").read_text(errors="replace")[-2000:])

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_proxy_user_is_signed_in_and_a_forged_header_is_refused(app_factory, nginx_in_front, browser_page):
    app = app_factory(auth="proxy", proxy_trusted_addresses=f'["{PROXY_SOURCE}"]')
    proxy_url = nginx_in_front(app.url)
    page = browser_page
    page.goto(proxy_url)
    page.get_by_placeholder(CHAT_PLACEHOLDER).wait_for()
    page.locator('[data-testid="stSidebar"]').get_by_text("alice", exact=True).first.wait_for()

    page.context.set_extra_http_headers({"X-Forwarded-User": "ada"})
    page.goto(app.url)  # straight to the app, past the proxy, naming someone else
    page.get_by_text("are not from the trusted proxy").first.wait_for()
    assert page.get_by_placeholder(CHAT_PLACEHOLDER).count() == 0
    records = SqliteRecordStore(app.data_dir / "records.sqlite").query(kind=None, limit=100)
    assert any(r["kind"] == "sign_in" and r["user"] == "alice" and r.get("method") == "proxy" for r in records)
    assert any(r["kind"] == "access_refused" and r.get("origin") == "proxy" for r in records)
    assert not any(r.get("user") == "ada" for r in records)
