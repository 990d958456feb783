"""Vocoder training: the Vocos mel vocoder as a GAN (``tts.gan.GANModule``) and its export.

- :mod:`tts.vocoder.module`: ``VocosGAN`` (generator ``vocos.Vocos``, discriminator ``VocosDiscriminator``
  = MPD + MRD, losses ``VocosLoss``: vocos' hinge GAN losses, feature matching, mel L1 x 45);
- :mod:`tts.vocoder.export`: ``export_vocos`` (training checkpoint -> the pretrained-dir layout).

Inference (loading a Vocos dir or checkpoint for the ``mel`` feature space) is ``tts.features.vocos``.
Recipes: ``recipes/vocos/base.yaml`` (``VocosGAN`` on ``tts.data.datamodule.CropDataModule``) + a size layer,
``recipes/vocos/mel24k.yaml`` (paper) or ``recipes/{smoke,demo,cpu,mini}/vocos.yaml``.
"""

from tts.vocoder.export import export_vocos
from tts.vocoder.module import VocosConfig, VocosDataModule, VocosDiscriminator, VocosGAN, VocosLoss

__all__ = ["VocosConfig", "VocosDataModule", "VocosDiscriminator", "VocosGAN", "VocosLoss", "export_vocos"]
