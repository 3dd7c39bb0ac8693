"""What the assistant says: answers from the live state, the services a conversation names,
fitting replies to the channel, notifications, and the review of past conversations."""
