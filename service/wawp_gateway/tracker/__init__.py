"""The delivery tracker process: joins ``message.ack`` events with the sends recorded on
``wawp.state`` and writes ``wawp.delivery``. ``delivery`` is the join (pure), ``service`` runs
the process (after a restart it reads the recent past again, from ``core.rewind``)."""
