"""The sync engine: one module per job.

Follow one sync from `commerce_sync.core.tasks.sync_merchant` into
`runs.sync_run_execute`, whose `_work` reads like the data flow; then
`periods` (what is due), `intake` (records hashed, classified, stored),
`mapping.engine` (records to documents, pure), `push` (the outbox of push
items and the write loop): six files from the task to the write call. The
connectors behind `connection_source`/`connection_target` are read on their
own (connectors/<platform>/adapter.py). Around them: `locks`,
`transitions` (the audited state machines), `trace` (counters, timings,
messages), `recovery` (writing a failed run's items again) and `scheduling` (the
dispatcher's choices, long runs, the 31-day rule).
"""
