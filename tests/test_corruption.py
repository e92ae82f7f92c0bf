"""The data protocol: noise statistics, flip mapping, long-tail counts, meta split, determinism."""
import numpy as np
import pytest

from gdw_bench.datasets import Corruption, flip_targets, long_tail_counts, prepare, transition_matrix
from gdw_bench.datasets.corruption import corrupt_labels, expected_wrong_fraction, long_tail_subset, split_meta
from gdw_bench.errors import UserInputError


@pytest.mark.parametrize("rate,k", [(0.4, 10), (0.6, 10), (0.4, 100)])
def test_uniform_noise_keeps_one_minus_r_plus_r_over_k(rate, k):
    labels = np.repeat(np.arange(k), 20000 // k)
    noisy = corrupt_labels(labels, transition_matrix(Corruption("uniform", rate), k), np.random.default_rng(0))
    kept = np.mean(noisy == labels)
    assert kept == pytest.approx(1 - rate + rate / k, abs=0.012)
    assert expected_wrong_fraction(Corruption("uniform", rate), k) == pytest.approx(rate * (k - 1) / k)
    wrong = noisy[noisy != labels]
    counts = np.bincount(wrong, minlength=k)  # wrong labels spread over all classes
    assert counts.min() > 0


def test_flip_mapping_is_the_authors_and_flips_only_to_it():
    assert flip_targets(10).tolist() == [6, 9, 6, 0, 0, 1, 8, 6, 2, 4]  # gdw_protocol.md §1.4 [sim]
    targets = flip_targets(100)
    assert all(t != i for i, t in enumerate(targets))
    labels = np.repeat(np.arange(10), 2000)
    noisy = corrupt_labels(labels, transition_matrix(Corruption("flip", 0.4), 10), np.random.default_rng(1))
    changed = noisy != labels
    assert np.all(noisy[changed] == flip_targets(10)[labels[changed]])
    assert changed.mean() == pytest.approx(0.4, abs=0.015)


def test_long_tail_counts_follow_the_formula():
    assert long_tail_counts(4900, 0.01, 10) == [4900, 2937, 1760, 1055, 632, 379, 227, 136, 81, 49]
    assert sum(long_tail_counts(4900, 0.1, 10)) == 20021
    assert sum(long_tail_counts(490, 0.01, 100)) == 10626  # CIFAR-100 at 0.01 (gdw_protocol.md §1.5)
    labels = np.repeat(np.arange(10), 300)
    keep = long_tail_subset(labels, 0.1, 10, np.random.default_rng(0))
    assert np.bincount(labels[keep], minlength=10).tolist() == long_tail_counts(300, 0.1, 10)


def test_meta_split_is_balanced_and_disjoint():
    labels = np.random.default_rng(0).integers(0, 10, 5000)
    meta, train = split_meta(labels, 25, 10, np.random.default_rng(1))
    assert np.bincount(labels[meta], minlength=10).tolist() == [25] * 10
    assert not set(meta) & set(train)
    assert len(meta) + len(train) == len(labels)


def test_prepared_data_depends_only_on_dataset_setting_level_seed():
    a = prepare("digits", Corruption("uniform", 0.4), seed=1)
    b = prepare("digits", Corruption("uniform", 0.4), seed=1)
    c = prepare("digits", Corruption("uniform", 0.4), seed=2)
    assert a.data_hash == b.data_hash and a.data_hash != c.data_hash
    assert (a.train.labels == b.train.labels).all()
    # the meta set is clean and balanced; no meta image is a training image
    assert np.bincount(a.meta.labels.numpy(), minlength=10).tolist() == [10] * 10
    train_imgs = {bytes(x.numpy().tobytes()) for x in a.train.images}
    assert not any(bytes(x.numpy().tobytes()) in train_imgs for x in a.meta.images)
    # clean: no label differs; imbalance: long-tail counts by clean label
    clean = prepare("digits", Corruption("flip", 0.0), seed=1)
    assert (clean.train.labels == clean.train.true_labels).all()
    assert clean.data_hash == prepare("digits", Corruption("uniform", 0.0), seed=1).data_hash
    lt = prepare("digits", Corruption("none", 0.0, 0.1), seed=1)
    counts = np.bincount(lt.train.true_labels.numpy(), minlength=10)
    assert counts.tolist() == long_tail_counts(int(counts[0]), 0.1, 10)


@pytest.mark.parametrize("kwargs", [{"rate": 1.5, "noise": "uniform"}, {"noise": "bogus"}, {"imbalance": 0.0}])
def test_bad_corruptions_are_user_errors(kwargs):
    with pytest.raises(UserInputError):
        Corruption(**kwargs)
