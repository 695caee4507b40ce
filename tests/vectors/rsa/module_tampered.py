def register_module(app):
    app.log("HELLO from module")
