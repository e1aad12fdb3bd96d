"""The transport: where Redis is (:mod:`.address`, Beacon included), one RESP connection
(:mod:`.resp`), and the threads-or-greenlets primitives the bus runs on (:mod:`.runtime`)."""
