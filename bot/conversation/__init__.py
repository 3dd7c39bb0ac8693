"""What the assistant says: answers from the live state, the dialogue's own moves (clarifying,
urgency, one offer), receipts and notices, the services a conversation names, fitting
replies to the channel, notifications, and the review of past conversations."""
