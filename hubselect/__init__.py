"""hubselect: which pre-trained text-to-image model should you fine-tune on your dataset?"""

__version__ = "0.1.0"
