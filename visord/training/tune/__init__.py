"""`visord tune`: hyperparameter search over the training config, with Optuna as the engine.

One job per module:

- settings: the tune YAML (base training config, search space, sampler, cv, pruning, storage)
  validated
- keys: that every searched key exists in the training config and every value is valid there
- space: search space -> Optuna suggestions, grid combinations, and the training config of a trial
- samplers: the sampler and pruner registries (grid, random, tpe; median pruning)
- folds: stratified k-fold splits
- study: opening the storage (journal file or RDB URL) and creating or resuming the study
- queue: the study's trial queue: tickets for the budget, atomic claims, abandoned trials
- worker: one worker's loop: claim a trial, evaluate it, record the outcome (evaluator injected)
- evaluate: the real evaluator (TensorFlow): hold-out or k-fold training with per-epoch reports
- preflight: name checks that need TensorFlow (architectures, losses, optimizers, options)
- launch: running the workers, in this process or as N local processes, with a progress bar
- results, plots, best: the trials table, the PNG plots, the best config and its retraining
- outputs: writing all of those into the study folder, and the printed summary
- command: the CLI sub-command
- sklearn_model: a tuned config as a `keras.wrappers.SKLearnClassifier` for scikit-learn code
- quick: `visord train --search DURATION`, a time-boxed search of the main knobs around a training
  config, its best trial's model written as a normal run folder

Only evaluate, preflight, best, sklearn_model and quick import TensorFlow, and only when used.
"""
