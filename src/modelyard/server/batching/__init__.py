"""How requests become batches: the pure policy (`policy.py`, the clock passed in) and the batcher that runs it on
asyncio and instance threads (`batcher.py`)."""
