"""Sign-in, roles and workspaces: who is asking, what they may do, and which data folder they work in."""
