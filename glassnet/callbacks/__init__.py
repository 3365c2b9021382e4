"""Callbacks: code that runs at the start and end of training, of each epoch and of each batch.

Early stopping, learning-rate schedules, stopping on NaN, checkpoints and the progress bar are all
callbacks; the training loop itself knows nothing about them.

    base.py        Callback, CallbackList, History, Monitor: the machinery
    control.py     EarlyStopping, ReduceLROnPlateau, TerminateOnNaN, LearningRateScheduler, LambdaCallback
    checkpoint.py  ModelCheckpoint, BackupAndRestore, and the training state they save and restore
    progress.py    ProgressBar (fit's verbose output), TrainingBar (one bar for a whole run)
    recording.py   WeightHistory: copies of the weights every N steps, to look at afterwards
"""
from .base import Callback, CallbackList, History
from .checkpoint import BackupAndRestore, ModelCheckpoint
from .control import EarlyStopping, LambdaCallback, LearningRateScheduler, ReduceLROnPlateau, TerminateOnNaN
from .progress import ProgressBar, TrainingBar
from .recording import WeightHistory

__all__ = ["Callback", "CallbackList", "History", "EarlyStopping", "ReduceLROnPlateau",
           "TerminateOnNaN", "LearningRateScheduler", "LambdaCallback", "ModelCheckpoint",
           "BackupAndRestore", "ProgressBar", "TrainingBar", "WeightHistory"]
