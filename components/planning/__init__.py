"""Pure planning: catalog look-ups, sizing, placement and topology. No Pulumi imports here."""
