"""From audio to speakers: the diarizer, speech detection, clustering, the classic pipeline,
evaluation and calibration."""
