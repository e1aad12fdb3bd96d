"""The Tango device's Tango-free half: channels exposed as attributes, by Tango's rules.

- :mod:`.lines`: the ``Channels`` and ``Axes`` properties, one line per channel, glob or axis;
- :mod:`.kinds`: what kind of value a channel carries, and its values as that kind;
- :mod:`.naming`: channel name -> attribute name, one documented rule;
- :mod:`.axes`, :mod:`.settings`: BLISS axes, and the settings hashes BLISS persists;
- :mod:`.criteria`: Tango's event criteria and alarm limits;
- :mod:`.sample`, :mod:`.attribute`: what an attribute shows, and one record per attribute;
- :mod:`.feed`: one followed channel, handing each value to its attributes;
- :mod:`.catalogue`: lines -> channels -> attributes, one way in and one way out;
- :mod:`.survey`: what the device asks Redis every period, on its own connection;
- :mod:`.publisher`: the one thread that owns the records and pushes their events;
- :mod:`.commands`: what the device's commands do.

Nothing here imports Tango (a test checks it); ``tango_channels_device`` maps these to Tango
attributes, events and errors, and the publisher reaches Tango through its ``Sink``.
"""
