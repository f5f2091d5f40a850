# SLURM preflight at parse time: with --executor slurm (profiles/slurm), check within seconds
# that the SLURM tools exist and the controller answers, else stop with one message (see
# ferroscope.slurm). Other executors, dry runs and jobs running inside SLURM skip it.
from ferroscope.slurm import preflight, run_executor

try:
    preflight(run_executor(workflow))
except FerroscopeError as err:
    raise WorkflowError(f"ferroscope: SLURM is not usable.\n{err}") from None
