class Plugin:
    async def run(self, payload, context):
        return payload
