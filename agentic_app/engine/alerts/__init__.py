"""Alerts that reach the user: the inbox row plus one delivery per routed channel.

* :mod:`.record` - write an alert (inbox row + outbox deliveries) inside any transaction;
* :mod:`.emit` - record in its own transaction, then push the deliveries to RQ and nudge the
  user's live inbox channel;
* :mod:`.delivery` - the RQ side: claim one delivery, storm gate, send (the SSRF-guarded
  apprise sender of the executor), retry or fail it, record the outcome on the channel;
* :mod:`.sweep` - the backstop run by workers: due retries, deliveries whose worker died,
  storm summaries at the end of a window.
"""
