"""Launchers: ``launch/tpu.py`` (``python -m launch.tpu``) drives a Cloud TPU
slice from create to delete (docs/tpu.md); ``launch/tpu_vm.sh`` runs one
command in the foreground on every worker of an existing slice."""
