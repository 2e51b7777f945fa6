import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

from distill import teacher as teacher_mod
from distill.distributed import DistContext, current, local_rows, shard_range

WORKER = textwrap.dedent('''
    import json, os, sys
    import torch
    torch.set_num_threads(1)
    from distill import RNNStudent, RNNStudentConfig, TrainConfig, load_teacher
    from distill.distributed import init_distributed, shutdown
    from distill.parallel import train_data_parallel
    from distill.teacher import sharded_teacher_logits
    from distill.students.transformer import TransformerStudentConfig, build_transformer_student
    from distill.trainer import TrainSet
    from distill.transformer_trainer import TransformerDistillConfig, distill_transformer

    teacher_dir, texts_file, out_dir = sys.argv[1:4]
    ctx = init_distributed()
    teacher = load_teacher(teacher_dir)
    texts = json.load(open(texts_file))
    logits, hit = sharded_teacher_logits(teacher, texts, ctx)
    ids = teacher.encoder.ids(texts)
    labels = torch.tensor([len(t) % 2 for t in texts])
    train_set = TrainSet(ids, labels, torch.from_numpy(logits))
    student = build_transformer_student(teacher.model, TransformerStudentConfig(layers=1, dropout=0.0, attention_dropout=0.0))
    config = TransformerDistillConfig(epochs=3, batch_size=8, lr=2e-3, warmup=0.0)   # 41 rows: each epoch ends on a 1-row batch
    result = distill_transformer(student, teacher.model, train_set, ids[:16], labels[:16].tolist(), teacher.encoder.pad, config, ctx)
    rnn = RNNStudent(RNNStudentConfig(vocab_size=teacher.encoder.settings.vocab_size, embed_dim=8, hidden=8, head_hidden=8))
    rnn_result = train_data_parallel(rnn, train_set, ids[:16], labels[:16].tolist(), teacher.encoder.with_inputs(("input_ids", "attention_mask")).pad,
                                     TrainConfig(loss="kl", epochs=2, batch_size=8), out_dir + "/rnn-ckpt", ctx)
    record = {"rank": ctx.rank, "world": ctx.world_size, "hit": hit, "logits": logits.tolist(),
              "step_losses": result.step_losses["distil"], "history": result.history,
              "student": [float(p.double().sum()) for p in student.parameters()],
              "student_logits": student(**teacher.encoder.pad(ids[:16])).logits.tolist(),
              "rnn": [float(p.double().sum()) for p in rnn.parameters()], "rnn_steps": rnn_result.steps}
    json.dump(record, open(f"{out_dir}/rank{ctx.rank}-of-{ctx.world_size}.json", "w"))
    shutdown()
''')


def test_shards_cover_every_row_once():
    for n in (0, 1, 7, 8, 9):
        for world in (1, 2, 3):
            ranges = [shard_range(n, DistContext(r, world)) for r in range(world)]
            assert ranges[0][0] == 0 and ranges[-1][1] == n and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
            assert max(e - s for s, e in ranges) - min(e - s for s, e in ranges) <= 1
    batch = torch.tensor([5, 3, 9, 1, 7])
    assert local_rows(batch, DistContext(0, 2)).tolist() == [5, 3, 9] and local_rows(batch, DistContext(1, 2)).tolist() == [1, 7]
    assert current() == DistContext() and not current().enabled


def _run(cmd, out_dir, cache):
    env = {**os.environ, "EDGEDISTILL_CACHE": str(cache), "EDGEDISTILL_PROGRESS": "0", "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_gloo_processes_follow_the_single_process_loss_curve(tiny_bert_dir, sentences, tmp_path):
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    texts_file = tmp_path / "texts.json"
    texts = sentences[:41]   # the 1-row last batch leaves rank 1 empty: it must still join the all-reduce
    texts_file.write_text(json.dumps(texts))
    single, double = tmp_path / "single", tmp_path / "double"
    single.mkdir()
    double.mkdir()
    torchrun = Path(sys.executable).parent / "torchrun"
    _run([sys.executable, str(worker), str(tiny_bert_dir), str(texts_file), str(single)], single, tmp_path / "cache1")
    _run([str(torchrun), "--standalone", "--nproc_per_node", "2", str(worker), str(tiny_bert_dir), str(texts_file), str(double)],
         double, tmp_path / "cache2")
    one = json.loads((single / "rank0-of-1.json").read_text())
    r0, r1 = (json.loads((double / f"rank{r}-of-2.json").read_text()) for r in (0, 1))

    # the same optimizer steps on the same global batches: the loss curves agree step by step
    a, b = np.array(one["step_losses"]), np.array(r0["step_losses"])
    assert len(a) == len(b) == 18 and r0["step_losses"] == r1["step_losses"]
    assert np.allclose(a, b, rtol=2e-3, atol=2e-4), np.abs(a - b).max()
    assert a[-3:].mean() < a[:3].mean()   # and it is a learning curve, not a flat line
    # both ranks hold the same weights (DDP keeps them in step), and predict like the single-process student
    # (not bit-equal: float summation order differs, and Adam magnifies that on near-zero embedding gradients)
    assert r0["student"] == r1["student"]
    assert np.allclose(r0["student_logits"], one["student_logits"], atol=5e-3)
    assert r0["rnn"] == r1["rnn"] and r0["rnn_steps"] == one["rnn_steps"] == 12

    # sharded teacher logits = all rows, and they sit in the cache a later single process reads
    assert np.allclose(r0["logits"], one["logits"], atol=1e-5) and r0["logits"] == r1["logits"]
    os.environ["EDGEDISTILL_CACHE"] = str(tmp_path / "cache2")
    try:
        logits, hit = teacher_mod.cached_teacher_logits(teacher_mod.load_teacher(tiny_bert_dir), texts)
    finally:
        del os.environ["EDGEDISTILL_CACHE"]
    assert hit and np.allclose(logits, r0["logits"], atol=1e-6)
