"""What is loaded: the manager (names, versions, aliases; load, swap, drain, unload), one served model version
(its runtime instances, batcher and statistics), and the checks inputs pass before they queue."""
