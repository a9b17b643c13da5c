"""Sharing agents on the Hugging Face Hub: stage a run (artifacts, preview video, model card) without
secrets, upload it in one commit, and download published agents back as runs.

Modules: ``scrub`` (secrets), ``card`` (the model card), ``staging`` (the folder that gets uploaded) and
``client`` (login, repo ids, upload, download, error messages). huggingface_hub (the ``hub`` extra) is
imported inside the functions that need it, never at module import.
"""
