"""The fixed sentences a document answer uses when the documents do not hold the answer.

Kept below chat, audit and evaluation so that all three recognise the same refusal."""

NOT_IN_DOCUMENTS = "I could not find this in your documents."
MODEL_SAYS_NOT_FOUND = "The documents do not say."
