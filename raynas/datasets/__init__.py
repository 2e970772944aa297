"""The data layer: registered datasets loaded as in-memory tensors (:mod:`.sources`)."""

from raynas.datasets.sources import (DatasetBundle, DatasetNotFound, check_fits, default_data_dir,
                                     load, names, normalization_constants, normalize,
                                     register_dataset)

__all__ = ["DatasetBundle", "DatasetNotFound", "check_fits", "default_data_dir", "load", "names",
           "normalization_constants", "normalize", "register_dataset"]
