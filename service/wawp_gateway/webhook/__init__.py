"""The webhook receiver process: Wawp's callbacks in, ``wawp.events`` records out, each
acknowledged by the broker before the callback is answered."""
