"""How requests arrive: the V2 REST app (ASGI), the HTTP protocol uvicorn runs it on, and the gRPC servicer. Each
converts between its wire and the DataPlane, and maps the error tree to its status codes; nothing else."""
