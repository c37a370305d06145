"""The rules engine: canonical commerce records + configuration -> accounting
documents. Pure Python: no ORM, no I/O."""
