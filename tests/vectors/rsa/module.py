def register_module(app):
    app.log("hello from module")
