"""Student architectures, one file each with its config dataclass beside the model."""
from distill.students.rnn import RNNStudent, RNNStudentConfig

__all__ = ["RNNStudent", "RNNStudentConfig"]
