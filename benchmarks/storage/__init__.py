"""Store and records: atomic files, locks and cell statuses (``store``), the record schema (``record``),
and moving a results root of the older layout (``migrate``). Torch-free."""
