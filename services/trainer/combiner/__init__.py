"""The learned combiner: a ranker over the feature rows of the fusion candidates (shared.features).

groups.py builds one group per query from the stored triplets and the search service's fusion
candidates; holdout.py keeps a quarter of the queries out of the cross-encoder's training;
models.py fits LambdaMART or a logistic regression; select.py chooses the ranker and the weights
of the fusion prior and the cross-encoder logit on the held-out queries; export.py writes
combiner.onnx + combiner.json; stage.py runs it all inside a train job (and bench/learning.py).
"""

from services.trainer.combiner.stage import MIN_GROUPS, Prepared, Setting, Skipped, fit_combiner, prepare

__all__ = ["MIN_GROUPS", "Prepared", "Setting", "Skipped", "fit_combiner", "prepare"]
