"""How requests become batches: the pure policy (`policy.py`, the clock passed in), the pure rule for running a
batch on the event loop's thread (`inline.py`), and the batcher that runs both on asyncio and instance threads
(`batcher.py`)."""
