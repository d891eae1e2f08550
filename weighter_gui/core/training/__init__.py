"""Teaching the model: training, synthetic and real-voice corpora, augmentation, simulation."""
