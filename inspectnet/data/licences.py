"""What each dataset profile is and may be used for: every record names it, so nobody mistakes one for the other."""

DATASET_LICENCES = {
    "synthetic": "CC0-1.0 (InspectNet embedded synthetic dataset; generator Apache-2.0)",
    "mvtec_ad": "CC BY-NC-SA 4.0 (MVTec AD; non-commercial, propagates to checkpoints fit on it)",
}
DATASET_NOTES = {
    "synthetic": "synthetic analogues of MVTec AD categories: these are NOT MVTec AD numbers",
    "mvtec_ad": "a dataset in MVTec AD layout",
}
