"""AWS: the API Gateway and AppSync authorizers, the revoke, EventBridge and stream handlers.

Lambda handler entry points (one module each, nothing imported here, so a
handler's cold start loads only what that handler needs):

- ``revoker.aws.lambda_authorizer.handler``: REST TOKEN/REQUEST, HTTP API
  payload 1.0/2.0 and WebSocket ``$connect`` authorizer events (a connection it
  allows is recorded, for a rule to close it later).
- ``revoker.aws.appsync_authorizer.handler``: AppSync's Lambda authorizer.
- ``revoker.aws.websocket_handler.handler``: the WebSocket ``$connect`` and
  ``$disconnect`` routes (subprotocol selection; the record's removal).
- ``revoker.aws.stream_handler.handler``: the revocation table's DynamoDB stream:
  every new rule closes the WebSocket connections and AppSync subscriptions it
  matches.
- ``revoker.aws.revoke_handler.handler``: ``/revoke`` and ``/admin/...`` behind
  API Gateway (proxy events, REST v1 and HTTP API v2).
- ``revoker.aws.events_handler.handler``: Cognito's CloudTrail events from
  EventBridge, turned into subject rules.

boto3 is imported only where a DynamoDB store, a Cognito or an API Gateway
call needs it, and then only when first used.
"""
