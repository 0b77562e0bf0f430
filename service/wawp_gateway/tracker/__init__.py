"""The delivery tracker process: joins ``message.ack`` events with the sends recorded on
``wawp.state`` and writes ``wawp.delivery``. ``delivery`` is the join (pure), ``rewind`` finds
where a restart must read from, ``service`` runs the process."""
