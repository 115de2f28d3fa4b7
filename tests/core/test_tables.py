"""repro.core.tables: the one save/load path of every paper's Arrow tables."""

import pytest
from datasets import Dataset, DatasetDict
from datasets.utils import logging

from repro.core import tables


def test_round_trip_of_a_dataset_dict_and_a_dataset(tmp_path):
    splits = DatasetDict({"train": Dataset.from_dict({"x": [1, 2, 3]}), "test": Dataset.from_dict({"x": [4]})})
    tables.save(splits, tmp_path / "splits")
    tables.save(splits["test"], tmp_path / "one")
    assert tables.exists(tmp_path / "splits") and tables.exists(tmp_path / "one")
    assert tables.load(tmp_path / "splits")["train"]["x"] == [1, 2, 3]
    assert tables.load(tmp_path / "one")["x"] == [4]


def test_a_missing_table_names_the_step_to_run(tmp_path):
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "absent", tmp_path / "empty"):
        assert not tables.exists(folder)
        with pytest.raises(FileNotFoundError, match="run the model step first"):
            tables.load(folder, step="model")


def test_saving_restores_the_progress_bar_setting(tmp_path):
    logging.enable_progress_bar()
    tables.save(Dataset.from_dict({"x": [1]}), tmp_path / "a")
    assert logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    tables.save(Dataset.from_dict({"x": [1]}), tmp_path / "b")
    assert not logging.is_progress_bar_enabled()
    logging.enable_progress_bar()
