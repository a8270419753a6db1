export { compileTemplate, type CompileResult, type CompiledTemplate, type TemplateError, type TemplateView } from './compile-template';
