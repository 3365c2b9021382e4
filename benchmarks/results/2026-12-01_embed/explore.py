"""Exploration before the benchmark (explore.jsonl): glassnet train's TableModel.fit on the flights training CSV of
benchmarks/tables.py with --embed auto, each line one variant, scored on the validation rows fit holds out (not the
test CSV), one BLAS thread, a shared 2-core machine (load 3 to 9). A variant patches the code as it then stood:
"emb_l2" the Embedding's L2 (the dense layers had none: the defaults from 45,000 rows on), "cap" the largest
embedding size, "emb_dropout" a Dropout after each Flatten, "min_rows" the rows a category needs for an id.
    OPENBLAS_NUM_THREADS=1 python explore.py '{"table": "flights-late", "embed": ["auto"], "emb_l2": 1e-2}'
"""
import json, sys, time
import glassnet as gn
from glassnet.tabular import columns, files, networks
from glassnet.tabular.model import TableModel
variant = json.loads(sys.argv[1])
table = variant.get("table", "flights-delay")
target = {"flights-delay": "arr_delay", "flights-late": "late"}[table]
drop = ["arr_delay"] if table == "flights-late" else []
if "cap" in variant:
    columns.MAX_EMBEDDING_SIZE = variant["cap"]
if "min_rows" in variant:
    columns.EMBED_MIN_ROWS = variant["min_rows"]
    import glassnet.tabular.preprocessing as P; P.EMBED_MIN_ROWS = variant["min_rows"]
if "emb_l2" in variant:
    original = gn.layers.Embedding.__init__
    def init(self, *a, **k):
        k["embeddings_regularizer"] = gn.regularizers.L2(variant["emb_l2"]) if variant["emb_l2"] else None
        original(self, *a, **k)
    gn.layers.Embedding.__init__ = init
if "emb_dropout" in variant:
    Flatten = gn.layers.Flatten
    class FlattenDrop(Flatten):
        pass
    orig_dense = networks.dense_network
    def flat_then_drop(*a, **k):
        return None
    # wrap Flatten output through Dropout by patching layers.Flatten used in networks
    class Fl:
        def __call__(self, x):
            return gn.layers.Dropout(variant["emb_dropout"])(Flatten()(x))
    networks.layers = type("L", (), {k: getattr(gn.layers, k) for k in dir(gn.layers) if not k.startswith("_")})
    networks.layers.Flatten = Fl
f = files.read_table(f"/tmp/glassnet-bench-tables/{table}-train.csv")
t = time.time()
tm, tr = TableModel.fit(f, target, drop=drop, embed=variant.get("embed", []), **variant.get("fit", {}))
print(json.dumps({**variant, "val": tr.scores, "epochs": tr.epochs_run, "best": tr.best_epoch, "s": round(time.time() - t, 1),
                  "params": tm.model.count_params()}), flush=True)
