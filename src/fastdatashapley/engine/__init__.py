"""The engine (layer 3): the service model f_D, the batched retraining engine (:mod:`.training`), what to retrain
(:mod:`.retrainer`), the engine as a utility (:mod:`.engine_utility`), and the utility table, the one artifact every
consumer reads (:mod:`.utility_table`). The only hot path of the project."""
