"""The Tango device's Tango-free half: channels exposed as named, typed samples.

- :mod:`.lines`: the ``Channels`` property, one line per channel or glob;
- :mod:`.kinds`: what kind of value a channel carries, and its values as that kind;
- :mod:`.naming`: channel name -> attribute name, one documented rule;
- :mod:`.exposure`: the component manager the device delegates to.

Nothing here imports Tango; ``device_classes`` maps these to Tango types and events.
"""
