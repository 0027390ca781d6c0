"""PortraitCraft Book: the toolkit under the executable analysis book for the PortraitCraft benchmark."""

__version__ = "0.1.0"
