"""One torch thread: the tiny batches of these tests only lose time to thread hand-offs
(and a loaded CI machine makes spinning OpenMP workers very slow)."""

import torch

torch.set_num_threads(1)
