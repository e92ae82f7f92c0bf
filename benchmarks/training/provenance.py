"""Where and with what a record was made: code version, library versions, host, SLURM job, device."""
from __future__ import annotations

import os
import platform
import socket
import subprocess
from pathlib import Path

from gdw_bench import __version__


def git_commit() -> str | None:
    """The commit of the gdw-bench checkout (None for an installed wheel or without git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict:
    import numpy
    import torch


    return {"gdw_bench": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "platform": platform.platform()}


def slurm_job_id() -> str | None:
    """This array task's id as squeue shows it (``123_4``), or the plain job id; None outside SLURM."""
    if "SLURM_ARRAY_JOB_ID" in os.environ:
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    return os.environ.get("SLURM_JOB_ID")


def device_label(device) -> str:
    """'cuda: NVIDIA H100 80GB HBM3' or 'cpu: x86_64'."""
    import torch

    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine() or 'cpu'}"


def host() -> str:
    return socket.gethostname()
