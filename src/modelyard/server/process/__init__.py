"""How the server runs as processes: the CLI's handoff, the launcher, forked workers and their supervisor, per-worker
listening sockets, and memory returned to the system. Standard library only at import: the supervisor stays lean."""
