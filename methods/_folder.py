"""Which files of ``methods/`` are the suite's own, and where installed plugins declare theirs: the names the
registry (``base``) and the torch-free cards (``cards``) both read. Imports nothing."""
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
PACKAGE = "gdw_bench.methods"
ENTRY_POINT_GROUP = "gdw_bench.methods"
# The files of the suite's own methods: imported first, so a file dropped into this folder can never
# take one of their keys (it fails, named, instead).
BUILTIN_FILES = ("basemodel", "finetune", "focal", "cb", "coteaching", "glc", "l2rw", "insw", "mwnet", "softlabel",
                 "genlabel", "gdw", "gdw_nozm")
NOT_METHOD_FILES = ("base", "cards")  # modules of this folder that hold no method (besides the ``_`` ones)
