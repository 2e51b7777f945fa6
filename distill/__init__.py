"""Train small students from a fine-tuned teacher.

Public verbs: `load_dataset`, `load_texts`, `read_labelled`, `align_labels`, `label_mapping`, `finetune_teacher`,
`load_teacher`, `cached_teacher_logits`,
`transfer_set`, `train_rnn_student`, `save_student`, `load_student`, `is_student_checkpoint`.
Transformer students: distill.transformer_trainer (`transformer_recipe`, `train_transformer_student`).
"""
from distill.checkpoint import is_student_checkpoint, load_student, save_student
from distill.data import BUILTIN, Split, SplitConfig, TextDataset, align_labels, label_mapping, load_dataset, load_texts
from distill.readers import LabelledData, read_labelled
from distill.recipes import StudentRun, train_rnn_student
from distill.students.rnn import RNNStudent, RNNStudentConfig
from distill.teacher import Teacher, TeacherConfig, cached_teacher_logits, finetune_teacher, load_teacher
from distill.text import Encoder
from distill.trainer import TrainConfig, TrainResult
from distill.transfer import transfer_set

__all__ = [
    "BUILTIN", "Encoder", "LabelledData", "RNNStudent", "RNNStudentConfig", "Split", "SplitConfig", "StudentRun",
    "Teacher", "TeacherConfig", "TextDataset", "TrainConfig", "TrainResult", "align_labels", "cached_teacher_logits",
    "finetune_teacher", "is_student_checkpoint", "label_mapping", "load_dataset", "load_student", "load_teacher",
    "load_texts", "read_labelled", "save_student", "train_rnn_student", "transfer_set",
]
