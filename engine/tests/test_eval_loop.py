import pytest

from qc_engine.data import PaddedEvalSampler
from qc_engine.eval_loop import seeded_subset


@pytest.mark.parametrize("n,world,batch", [(10, 1, 4), (10, 2, 4), (11, 3, 2), (1, 4, 8), (24, 2, 16)])
def test_padded_sampler_covers_every_index_once(n, world, batch):
    indices = list(range(100, 100 + n))
    per_rank = [list(PaddedEvalSampler(indices, world, r, batch)) for r in range(world)]
    assert len({len(p) for p in per_rank}) == 1  # same number of batches on every rank
    assert len(per_rank[0]) % batch == 0
    real = sorted(i for p in per_rank for i in p if i >= 0)
    assert real == indices


def test_seeded_subset_is_fixed_and_bounded():
    a, b = seeded_subset(360, 100, seed=42), seeded_subset(360, 100, seed=42)
    assert a == b and len(a) == 100 and len(set(a)) == 100 and a == sorted(a)
    assert seeded_subset(360, 100, seed=1) != a
    assert seeded_subset(10, 100, seed=42) == list(range(10))
