"""Archive scoring: ``finrisk score MODEL_REF INPUT... --out scores.parquet [--engine ray]``.

Documents read and extracted (:mod:`.documents`, :mod:`.extract`, object stores in :mod:`.object_store`), read ahead
of the model (:mod:`.read_ahead`), scored by the local engine (:mod:`.engine`, one or several Accelerate processes) or
by Ray (:mod:`.ray_engine`), written to resumable part files (:mod:`.parts`). Kept free of heavy imports here: the
CLI parser reads :mod:`.documents` and :mod:`.parts`.
"""
