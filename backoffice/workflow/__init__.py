"""The démarches' steps and every transition: the only place that changes a status.

A transition checks who may do it and in which state, changes the state, writes an audit
event, posts the automatic message to the thread and queues the notifications. It
flushes and never commits: the request (or job) commits once."""
